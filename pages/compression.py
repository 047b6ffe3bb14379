import streamlit as st

st.title("compression")
st.info("This page is being built.")

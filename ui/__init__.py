"""The app's Streamlit layer, one job per module; the pages in views/ call these and fer/.

- `runtime`: two adjustments to Streamlit's script runner for a process that trains in threads;
- `store`: the run store, its cached listing and the process-wide job queue;
- `data`: the data source the sidebar chose and the cached data set;
- `cache`: models, test-split scores and any other result keyed by a run's model file (`per_run`);
- `pickers`: choosing a run trained on the current data (or offering a quick training);
- `widgets`: widget values that survive page switches;
- `sidebar`, `errors`, `nav`: the sidebar, the last-line error display, the pages' paths.

Nothing here imports TensorFlow at module level: the Overview must show in seconds.
"""

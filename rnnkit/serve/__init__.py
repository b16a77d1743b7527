"""``rnnkit serve RUN [RUN ...]``: trained runs of any task behind an HTTP API and a web page.

A layer of its own beside ``analysis`` and ``bench``, above ``runs`` (it loads runs and predicts
through ``rnnkit.runs.predict``, the code path ``rnnkit predict`` takes) and below ``cli`` (the
``serve`` command). FastAPI and uvicorn are an optional extra (``pip install rnnkit[serve]``),
imported only here.

- ``limits.py``: the caps on a request (body size, inputs, audio length, image size, time) and
  the bearer-token check.
- ``batching.py``: dynamic batching, concurrent requests to one run gathered into one call.
- ``served.py``: a served run: its name, what it takes, its uploads and its predictions.
- ``app.py``: the FastAPI application (``create_app``) and ``serve`` on uvicorn.
- ``page.html``: the web page at ``/``, plain HTML and JavaScript, one view per task.
"""

"""HTML to text: the ``extract_html`` step (``step``), the extractors it runs (``extractors``:
trafilatura or Resiliparse, with math kept), and the sandbox process
that runs them with a memory and time limit per page (``sandbox``)."""

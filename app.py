"""Start the web app: `python app.py` (or `gradio app.py` for auto-reload while developing).

Settings come from QA_* environment variables (see qa/settings.py), e.g. QA_PORT, QA_HOST,
QA_STAFF_PASSWORD. `demo` is the name `gradio app.py` looks for when it reloads this file.
"""

import sys

from qa.store import StoreUnavailable
from qa.ui import main

if __name__ == "__main__":
    try:
        demo = main()
    except StoreUnavailable as exc:  # e.g. no Milvus at QA_MILVUS_URI: one line, not a traceback
        sys.exit(f"error: {exc}")

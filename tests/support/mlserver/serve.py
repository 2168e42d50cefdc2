"""Starts MLServer (`mlserver start REPO`) for a test and makes it stop by itself when the test
process that started it is gone (a test binary killed with SIGKILL cannot kill its children).

Usage: python serve.py PARENT_PID REPO
"""

import os
import sys
import threading
import time

from mlserver.cli import main


def watch(parent):
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


if __name__ == "__main__":
    parent = int(sys.argv[1])
    threading.Thread(target=watch, args=(parent,), daemon=True).start()
    sys.argv = ["mlserver", "start", sys.argv[2]]
    sys.exit(main())

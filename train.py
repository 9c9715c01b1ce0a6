"""Train a run: ``python train.py [experiment=<name>] [group=<file>] [key=value ...]``.

With no arguments it runs the default experiment of ``configs/defaults.yaml``.
See docs/configuration.md for every key.
"""

import sys

from genrec.cli import main_train

if __name__ == "__main__":
    sys.exit(main_train(sys.argv[1:]))

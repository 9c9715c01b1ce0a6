"""Evaluate a trained run: ``python evaluate.py experiment=<name>`` (or ``run=<name>``).

Loads ``checkpoints/<run>/config.yaml`` and its best checkpoint, ranks the whole
catalogue for every validation and test user, prints a table and writes
``results/<run>/metrics.json``.
"""

import sys

from genrec.cli import main_evaluate

if __name__ == "__main__":
    sys.exit(main_evaluate(sys.argv[1:]))

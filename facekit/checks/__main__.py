"""``python -m facekit.checks``: every check, in order; exit status 1 when one fails."""
import sys

from facekit.checks import main

sys.exit(main())

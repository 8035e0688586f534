import sys

from hvfuzz.fuzz.cli import main

sys.exit(main())

"""``python -m pd2java`` is the same as the ``pd2java`` console script."""

from pd2java.cli import main

raise SystemExit(main())

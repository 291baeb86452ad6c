"""PyInstaller's entry script for `returnflow-device` (see build.spec); the program is app/bundle.py."""

from app.bundle import main

raise SystemExit(main())

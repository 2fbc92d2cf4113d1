from facekit_tools.cli import main

raise SystemExit(main())

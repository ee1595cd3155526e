from gitops_compose.shell.cli import main

raise SystemExit(main())

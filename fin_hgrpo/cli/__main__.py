from fin_hgrpo.cli import main

raise SystemExit(main())

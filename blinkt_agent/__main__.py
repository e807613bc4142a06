from blinkt_agent.cli import main

raise SystemExit(main())

from flink_jobs.cli import main

raise SystemExit(main())

"""What the stack deploys besides its resources: the runtime's code asset (files.py says what
ships, code.py stages it without Docker) and the public Powertools layer it runs with."""

"""Running untrusted parse code: the parent that starts and checks the child, and the confined child."""

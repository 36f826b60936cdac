"""What the drivers share and nothing else: settings, access log, command-line plumbing, the demo
app, the PEP 3333 callable types. Imports no driver, so each driver loads without the others."""

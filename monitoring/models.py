# Models arrive with the issue that builds this area; see README.md.

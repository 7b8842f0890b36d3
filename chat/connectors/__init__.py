"""One module per outside channel: email and SMS in and out."""

"""One module per source kind. Parsers turn member bytes into typed rows; no pandas here."""

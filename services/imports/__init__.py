"""Bringing history in: files of this service's export and ChatGPT's data export,
read into one shape (conversation), checked and ordered (tree), stored one
conversation per transaction (store), and reported (service)."""

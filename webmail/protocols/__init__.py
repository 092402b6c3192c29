"""Pure protocol adapters: talk to IMAP and SMTP servers, return plain dataclasses.

`errors` is the failure vocabulary, `hosts` decides which addresses may be contacted,
`connect` holds the shared endpoint/options and the checked socket, `imap` and `smtp` are the
adapters. Nothing here imports Django.
"""

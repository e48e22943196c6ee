"""Emulated Android: the Play Integrity service and the hardware KeyStore."""

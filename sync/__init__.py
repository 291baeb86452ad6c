"""Sync: the wire protocol shared by the device and the central API (`sync.protocol`), and the
device's sync engine."""

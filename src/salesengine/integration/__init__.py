"""Integration events: the published contract, and the relay that puts them on a broker."""

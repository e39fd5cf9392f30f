"""The mobile front door (DESIGN §6): attested instances, per-instance clients and sessions."""

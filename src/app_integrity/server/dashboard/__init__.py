"""The operator's dashboard at ``/dashboard``: server-rendered pages over the events the service records."""

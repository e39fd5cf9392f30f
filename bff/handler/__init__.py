"""The login, session, refresh and logout flows, shared by the browser and mobile front doors."""

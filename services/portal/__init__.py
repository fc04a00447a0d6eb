"""The portal: citizens' pages and the officers' console, a backend-for-frontend over the
four services' HTTP APIs (it owns no business data and reads no database)."""

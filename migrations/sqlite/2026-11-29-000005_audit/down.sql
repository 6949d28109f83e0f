DROP TABLE audit_events;
ALTER TABLE accounts DROP COLUMN support_access_until;

DROP TABLE idempotency_keys;
DROP TABLE sandbox_messages;
DROP TABLE jobs;
DROP TABLE messages;
DROP TABLE campaigns;
DROP TABLE suppressions;
DROP TABLE consents;

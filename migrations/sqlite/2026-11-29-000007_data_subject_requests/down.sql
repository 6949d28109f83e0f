ALTER TABLE contacts DROP COLUMN restricted_at;
DROP TABLE data_subject_exports;
DROP TABLE data_subject_requests;

DROP TABLE list_members;
DROP TABLE lists;
DROP TABLE contacts;
DROP TABLE contact_properties;
DROP TABLE api_keys;
DROP TABLE accounts;

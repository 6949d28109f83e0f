DROP TABLE tracking_counts;

-- The tracking repeat window, installation-wide: per link (a message's open pixel, or one
-- of its tracked links, named by a hash of its URL), when it was last counted and until
-- when its hits are repeats. Every events worker reads and moves it in the transaction that
-- records the hits, so a link counts once per window whichever process took the hit.
CREATE TABLE tracking_counts (
    message_id    uuid NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    link          text NOT NULL,
    counted_at    timestamptz NOT NULL,
    repeats_until timestamptz NOT NULL,
    PRIMARY KEY (message_id, link)
);

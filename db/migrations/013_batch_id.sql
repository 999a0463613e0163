-- 013_batch_id: each answer carries the id of the scoring batch that
-- inserted it (a random 63-bit number per batch, kept across the batch's
-- tries). When the connection dies during COMMIT the outcome is unknown;
-- the batcher then reads whether rows with its id exist (by the answers'
-- primary key) instead of guessing, and acks only what is known committed
-- (docs/RELIABILITY.md). Answers written before this migration have none.
ALTER TABLE answers ADD COLUMN batch_id bigint;

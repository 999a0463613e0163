-- 011_images: a picture per question (issue 18, "Pictures"). A picture is
-- stored once under its id, the SHA-256 of its bytes in lowercase hex, so
-- the same bytes uploaded twice are one row and a stored picture never
-- changes (the gateways cache it for ever). `mime`, `width` and `height`
-- were read from the bytes themselves (shared/image.c), never from a name
-- or a header. A question names its picture in `questions.image` (NULL:
-- none; the foreign key refuses a question whose picture is not stored)
-- and may describe it in `image_alt` (NULL: the question text serves).
-- Only the session daemon uses pictures: it may read and add them, not
-- change or delete them (content-addressed rows are immutable).
CREATE TABLE images (
    id      text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{64}$'),
    mime    text NOT NULL CHECK (mime IN ('image/png', 'image/jpeg', 'image/webp')),
    bytes   bytea NOT NULL,
    width   integer NOT NULL CHECK (width BETWEEN 1 AND 16384),
    height  integer NOT NULL CHECK (height BETWEEN 1 AND 16384),
    created timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE questions ADD COLUMN image text REFERENCES images (id),
                      ADD COLUMN image_alt text;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'qw_session') THEN
    GRANT SELECT, INSERT ON images TO qw_session;
  END IF;
END
$$;

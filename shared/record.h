/*
 * record: the reads of the quiz record, written once: the answers per
 * choice of one question, every student's score (the sum of their points;
 * no answer scores 0), and the questions of a session's quiz (for the
 * report). The rules applied to what they read (labels, ranks, the
 * report's figures) are shared/quiz's.
 * Reads run inside the caller's transaction (a db_tx), never on their own.
 */
#ifndef QW_RECORD_H
#define QW_RECORD_H

#include "db.h"
#include "quiz.h"

/* Every student of session $1 (not removed from it) with their score: columns student_id, name,
 * score. Use as a whole statement or as a subquery. Each score is its own lookup by the answers'
 * key (sid, student_id), whatever the planner believes: a join here was planned, for a session
 * newer than the table's statistics, as a nested loop matching on sid alone (every answer of the
 * session read once per student: 5.8 s for 2,000 students, the session-end stall). */
#define RECORD_SCORES                                                                              \
    "SELECT st.student_id, st.name, COALESCE((SELECT sum(a.points) FROM answers a"                 \
    " WHERE a.sid = st.sid AND a.student_id = st.student_id), 0) AS score FROM students st"        \
    " WHERE st.sid = $1 AND st.removed_at IS NULL"

/* The questions of session $1's quiz, by index: columns idx, text, answer
 * (NULL for a poll), choices (a JSON array of texts), kind. */
#define RECORD_QUESTIONS                                                                           \
    "SELECT q.idx, q.text, q.answer, q.choices::text, q.kind FROM questions q"                     \
    " JOIN sessions s ON s.quiz_id = q.quiz_id WHERE s.sid = $1 ORDER BY q.idx"

/* How a question's answers count, per recorded choice: (choice, n), for
 * the SQL expressions SID and IDX (record_counts, and answer_stats, which
 * reads every due session's counts in one statement). */
#define RECORD_COUNTS(SID, IDX)                                                                    \
    "SELECT choice, count(*) AS n FROM answers WHERE sid = " SID " AND question_idx = " IDX        \
    " GROUP BY choice"

/* Adds the answers to question `idx` of `sid`, per choice, to `c` (which
 * the caller initialised for the question's labels). Returns 0, or -1 when
 * the read failed (the transaction has then failed). */
int record_counts(struct db_tx *tx, const char *sid, int idx, struct quiz_counts *c);

#endif

/*
 * handle_cmd: one lifecycle command (`qw.session.cmd.<shard>` {"sid","cmd"})
 * on the lifecycle thread. A sid of another shard than the subject's is
 * refused (400 wrong_shard, nothing changed): only the instance driving a
 * session's shard acts on it. Reads the session's state, asks shared/quiz's
 * lifecycle table what the command does there (quiz_plan_cmd: refuse, or
 * close first, then open, end or reset), runs those steps (transitions.c)
 * and answers the new <state>. Decides no rule itself.
 */
#include "lifecycle.h"
#include "log.h"
#include "quiz.h"
#include "reply.h"

#include <stdio.h>
#include <string.h>

json_t *handle_cmd(struct lifecycle *lc, json_t *req, int shard) {
    const char *sid = json_string_value(json_object_get(req, "sid"));
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    int err = 0, rc = 0;
    if (!sid || !*sid || !cmd) return reply_error(400, "bad_field", "sid and cmd must be strings");
    if (quiz_shard(sid) != shard)
        return reply_error(400, "wrong_shard", "the session is on shard %d, not %d",
                           quiz_shard(sid), shard);
    json_t *st = session_state_read(lc->db, sid, 1, &err);
    if (err) return reply_error(503, "unavailable", "the database is unavailable");
    if (!st) return reply_error(404, "unknown_session", "no such session");
    enum quiz_state state = QUIZ_LOBBY;
    enum quiz_cmd c = QUIZ_CMD_COUNT; /* not a command: the table refuses it */
    quiz_state_parse(json_string_value(json_object_get(st, "state")), &state);
    quiz_cmd_parse(cmd, &c);
    int idx = (int)json_integer_value(json_object_get(st, "question_idx"));
    int count = (int)json_integer_value(json_object_get(st, "question_count"));
    json_decref(st);

    struct quiz_plan plan = quiz_plan_cmd(c, state, idx, count);
    if (plan.status)
        return reply_error(plan.status, plan.status == 400 ? "bad_field" : "bad_state", "%s",
                           plan.message);
    if (plan.close_first && step_close(lc, sid, idx) < 0) rc = -1;
    if (rc == 0 && plan.then == QUIZ_STEP_OPEN) rc = step_open(lc, sid, plan.open_idx);
    if (rc == 0 && plan.then == QUIZ_STEP_END) rc = step_end(lc, sid);
    if (rc == 0 && plan.then == QUIZ_STEP_RESET) rc = step_reset(lc, sid);
    if (rc != 0) return reply_error(503, "unavailable", "the state change could not be made");
    st = session_state_read(lc->db, sid, 1, &err);
    if (!st) return reply_error(503, "unavailable", "the database is unavailable");
    json_object_set_new(st, "ok", json_true());
    LOG_INFO("session_cmd", "sid=%s cmd=%s from=%s to=%s", sid, cmd, quiz_state_name(state),
             json_string_value(json_object_get(st, "state")));
    return st;
}

/*
 * subjects: every NATS subject Quizwire uses, in one place.
 *
 * Requests carry one JSON object and are answered with one JSON object:
 * {"ok":true,...} or {"ok":false,"status":<http status>,"error":"<code>",
 * "message":"<text>"}. docs/ARCHITECTURE.md lists each payload.
 */
#ifndef QW_SUBJECTS_H
#define QW_SUBJECTS_H

/* health: every instance of a daemon answers {"ok":true,"db":bool,...} */
#define SUBJ_HEALTH_AUTH "qw.health.auth"
#define SUBJ_HEALTH_SESSION "qw.health.session"
#define SUBJ_HEALTH_SCORING "qw.health.scoring"

/* auth daemon, queue group "auth" */
#define SUBJ_AUTH_ALL "qw.auth.*"
#define SUBJ_AUTH_LOGIN "qw.auth.login"
#define SUBJ_AUTH_LOGOUT "qw.auth.logout"
#define SUBJ_AUTH_VERIFY "qw.auth.verify"
#define SUBJ_AUTH_JOIN "qw.auth.join"
#define QUEUE_AUTH "auth"

/* broadcast by auth after a logout, to every gateway (no queue group):
 * {"login":"<login id>"}; each closes the admin sockets of that login */
#define SUBJ_ADMIN_REVOKED "qw.admin.revoked"

/* session daemon: queries any instance answers (queue "session-q") ... */
#define SUBJ_SESSION_QUERY_ALL "qw.session.query.*"
#define SUBJ_QUIZ_CREATE "qw.session.query.quiz_create"
#define SUBJ_QUIZ_LIST "qw.session.query.quiz_list"
#define SUBJ_QUIZ_GET "qw.session.query.quiz_get"
#define SUBJ_QUIZ_PUT "qw.session.query.quiz_put"
#define SUBJ_QUIZ_DUPLICATE "qw.session.query.quiz_duplicate"
#define SUBJ_QUIZ_DELETE "qw.session.query.quiz_delete"
#define SUBJ_QUIZ_VALIDATE "qw.session.query.quiz_validate"
#define SUBJ_SESSION_CREATE "qw.session.query.create"
#define SUBJ_SESSION_LIST "qw.session.query.list"
#define SUBJ_SESSION_GET "qw.session.query.get"
#define SUBJ_SESSION_SNAPSHOT "qw.session.query.snapshot"
#define SUBJ_LOBBY_LOCK "qw.session.query.lock"
#define SUBJ_LOBBY_TWO_STEP "qw.session.query.two_step"
#define SUBJ_LOBBY_SHAPES "qw.session.query.shapes"
#define SUBJ_LOBBY_REMOVE "qw.session.query.remove"
#define SUBJ_TIME_FACTOR "qw.session.query.time_factor"
#define QUEUE_SESSION_QUERY "session-q"
/* ... and lifecycle commands, answered only by the instance driving the
 * session's shard: "qw.session.cmd.<shard>", shard = quiz_shard(sid)
 * (quiz_cmd_subject), in queue "session-c" so one answer even when two
 * instances hold a shard for a moment. */
#define SUBJ_SESSION_CMD_PREFIX "qw.session.cmd."
#define SUBJ_SESSION_CMD_ALL "qw.session.cmd.*"
#define QUEUE_SESSION_CMD "session-c"

/* scoring daemon */
#define SUBJ_SCORING_SUBMIT "qw.scoring.submit"
#define QUEUE_SCORING "scoring"
#define SUBJ_SCORING_RESULTS "qw.scoring.query.results"
#define QUEUE_SCORING_QUERY "scoring-q"

/* pictures of questions, kept by the session daemon (queue "image"):
 * put {"data":<base64>,"mime"} -> {"image","mime","width","height"};
 * get {"image"} -> {"image","mime","width","height","data":<base64>} */
#define SUBJ_IMAGE_ALL "qw.image.*"
#define SUBJ_IMAGE_PUT "qw.image.put"
#define SUBJ_IMAGE_GET "qw.image.get"
#define QUEUE_IMAGE "image"

/* events of one session, published by session/scoring/auth, fanned out by
 * every gateway holding a socket of that session: "qw.evt.<sid>" */
#define SUBJ_EVENT_PREFIX "qw.evt."

#endif

// node18_debian.cjs: preloaded by scripts/check-node18.sh (NODE_OPTIONS
// --require) to make the npm registry's Node 18.20.4 behave like Debian 12's
// own nodejs 18.20.4 where the tests could notice. Debian builds its Node
// with its own undici package (5.15), whose fetch Headers has no
// getSetCookie(); the npm build bundles a newer undici that has it. Taking it
// away here makes a test that still calls it fail under the check as it
// would on Debian.
'use strict';
if (typeof Headers === 'function' && Headers.prototype.getSetCookie) {
  delete Headers.prototype.getSetCookie;
}

// @datadog/native-metrics: native V8 GC hooks feeding a t-digest per GC type.
require('@datadog/native-metrics').start();

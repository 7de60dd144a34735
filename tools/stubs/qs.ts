import { unusedModule } from './unused';

// typed-rest-client's Util.getUrl is the only user of qs, for `queryParameters`: the task's HttpClient.request
// calls never build a URL through it.
export = unusedModule(
  'qs',
  "typed-rest-client only needs it to encode `queryParameters`, which the task's requests never pass",
);

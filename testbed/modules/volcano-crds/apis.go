// Package apis keeps Volcano's API package in this module's build list, so that controller-gen can
// load it.
package apis

import _ "volcano.sh/apis/pkg/apis/scheduling/v1beta1"

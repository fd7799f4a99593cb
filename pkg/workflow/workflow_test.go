package workflow

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWebhookPathKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Orders/Created", "orders/created"},
		{"a-Z_0.9~:@", "a-z_0.9~:@"},
		// Never reached with a valid path, but the key must still not fold
		// look-alikes: KELVIN SIGN and DOTTED CAPITAL I stay as they are.
		{"\u212aelvin/hoo\u212a", "\u212aelvin/hoo\u212a"},
		{"kelv\u0130n", "kelv\u0130n"},
	} {
		require.Equal(t, tc.want, WebhookPathKey(tc.in), tc.in)
	}
}

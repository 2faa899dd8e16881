package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/client"
)

// exampleLatchkey starts a throwaway Latchkey for the examples; in
// production this is `latchkey serve`, e.g. at http://127.0.0.1:8080.
func exampleLatchkey() (baseURL, rootKey string, stop func()) {
	dir, remove := tempDir()
	ls, err := startLatchkey(dir, latchkey.ServiceConfig{})
	if err != nil {
		log.Fatal(err)
	}
	return ls.srv.URL, ls.root, func() { ls.stop(); remove() }
}

// Issue a key for one of your users, protect an endpoint with the
// middleware, and see revocation take effect on the next request.
func Example() {
	latchkeyURL, rootKey, stop := exampleLatchkey()
	defer stop()
	ctx := context.Background()

	// The root key needs "keys:manage" to manage users' keys and
	// "keys:verify" for the middleware ("*" has both).
	lk := client.New(latchkeyURL, client.WithRootKey(rootKey))
	alice := lk.ForUser("user-123") // acts as this user (x-user-id)

	key, err := alice.CreateKey(ctx, client.KeyCreate{
		Name:        "My App API Key",
		Permissions: []string{"messages:send"},
	})
	if err != nil {
		log.Fatal(err)
	}
	// key.Key is the full secret: hand it to the user now, it is never shown again.

	// Your API: every request is authenticated by Latchkey.
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages", func(w http.ResponseWriter, r *http.Request) {
		id, _ := client.IdentityFrom(r.Context())
		fmt.Fprintf(w, "sent for %s", id.OwnerID)
	})
	requireSend := lk.Middleware(client.MiddlewareOptions{Permission: "messages:send"})
	api := httptest.NewServer(requireSend(mux))
	defer api.Close()

	send := func() {
		req, _ := http.NewRequest("POST", api.URL+"/v1/messages", nil)
		req.Header.Set("Authorization", "Bearer "+key.Key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			var e struct{ Error struct{ Code string } }
			json.NewDecoder(res.Body).Decode(&e)
			fmt.Println(res.StatusCode, e.Error.Code)
			return
		}
		body, _ := io.ReadAll(res.Body)
		fmt.Println(res.StatusCode, string(body))
	}
	send()
	if _, err := alice.RevokeKey(ctx, key.ID); err != nil {
		log.Fatal(err)
	}
	send()

	// Errors carry Latchkey's status and code.
	_, err = alice.ToggleKey(ctx, key.ID)
	fmt.Println(client.StatusCode(err), client.IsCode(err, client.CodeConflict))

	// Output:
	// 200 sent for user-123
	// 401 KEY_REVOKED
	// 409 true
}

// Page through all of a user's keys, newest first.
func ExampleClient_AllKeys() {
	latchkeyURL, rootKey, stop := exampleLatchkey()
	defer stop()
	ctx := context.Background()
	lk := client.New(latchkeyURL, client.WithRootKey(rootKey), client.WithUser("user-123"))
	for _, name := range []string{"ci", "laptop", "server"} {
		if _, err := lk.CreateKey(ctx, client.KeyCreate{Name: name}); err != nil {
			log.Fatal(err)
		}
	}

	for key, err := range lk.AllKeys(ctx, client.ListKeysOptions{Limit: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(key.Name, client.Mask(key.Key) == key.Key)
	}
	// Output:
	// server true
	// laptop true
	// ci true
}

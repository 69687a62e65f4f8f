package httpapi

import (
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/service"
)

// ramDate is RAM's time format, e.g. 2015-01-23T12:33:18Z; "" for a time
// not known (the built-in system policies have none).
func ramDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

func ramUserOf(u rayfleet.User, withUpdate bool) api.RAMUser {
	out := api.RAMUser{UserID: u.UID, UserName: u.Name, DisplayName: u.Nickname, Comments: u.Comments, CreateDate: ramDate(u.CreateTime)}
	if withUpdate {
		out.UpdateDate = ramDate(u.UpdateTime)
	}
	return out
}

func ramPolicyOf(p service.PolicyInfo) api.RAMPolicy {
	n := p.AttachmentCount
	return api.RAMPolicy{
		PolicyName: p.Name, PolicyType: p.Type, Description: p.Description, DefaultVersion: p.DefaultVersion,
		CreateDate: ramDate(p.CreateTime), UpdateDate: ramDate(p.UpdateTime), AttachmentCount: &n,
	}
}

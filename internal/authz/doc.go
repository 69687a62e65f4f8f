// Package authz parses and evaluates RAM policy documents, the permission
// language of Alibaba Cloud Resource Access Management that rayfleet speaks:
// {"Version":"1","Statement":[{"Effect","Action"|"NotAction","Resource",
// "Condition"}]}.
//
// Its job is to answer one question for the API layer: may a principal,
// holding these policies, perform this action on this resource in this
// request context? The answer is deny by default. A request is allowed only
// when some statement allows it and no statement denies it; an explicit Deny
// anywhere beats every Allow; a request that no statement matches is denied
// implicitly. Where a condition cannot be decided (a condition key rayfleet
// does not know or that the request lacks, a value of the wrong type, an
// operator this package does not implement) the statement is read in the
// direction that keeps access closed: an Allow does not apply and a Deny does.
//
// Parse is strict, like RAM's own validator: unknown elements, unknown
// condition operators, malformed actions, ARNs and condition values are
// refused with an error that names the statement and field. Document.JSON
// re-encodes a document in one canonical form, which Parse reads back to an
// equal document.
//
// Resources are ARNs, finer than the hosted product (which authorizes every
// action on "*" only, so its policies keep working here):
// WorkspaceARN for actions on a workspace or that create something in it
// (CreateRayCluster, ListRayCluster, queue operations), ClusterARN for
// actions on one cluster (Get/Update/Start/Stop/DeleteRayCluster), and "*"
// for actions on the account as a whole. A List handler evaluates each item
// it would return (CanList) and drops the ones the caller may not see, so a
// Deny on one workspace hides it and an Allow on ".../workspace/w-1" shows
// only w-1.
//
// The package knows nothing of users, accounts or HTTP: callers (the service
// layer) decide which policies a principal holds, short-circuit the account's
// root user, and turn a denial into Forbidden.RAM with an AccessDeniedDetail
// built from the Request and the Decision (AuthAction, AuthResource,
// NoPermissionType = Decision.Effect). It imports the standard library only.
package authz

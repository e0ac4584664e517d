// Package v1alpha1 holds the budgetgate.dev/v1alpha1 API: ServiceLevelObjective.
//
// +kubebuilder:object:generate=true
// +groupName=budgetgate.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is budgetgate.dev/v1alpha1.
	GroupVersion = schema.GroupVersion{Group: "budgetgate.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this group version.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
